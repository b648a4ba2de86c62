"""The `whatsapp:` section of config.yaml, validated at start (secrets come from the environment).

Defaults are the Cloud API's limits (DOMAIN.md, "Platform limits"); a value above a platform
limit is refused, since Meta would refuse the messages instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TemplateSpec(BaseModel):
    """An approved message template standing in for a free-form message outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512)
    language: str = "id"
    # Body parameters {{1}}, {{2}}, ... in order, each formatted from the message being replaced:
    # {text} (its text on one line), {reference} (an SJ-XXXXXX reference in it, or "-"), {key}.
    params: list[str] = Field(default_factory=lambda: ["{text}"])
    # Catalog keys (fnmatch patterns) of messages of this kind, for senders that name no kind.
    keys: list[str] = Field(default_factory=list)

    @field_validator("params")
    @classmethod
    def _known_fields(cls, params: list[str]) -> list[str]:
        for param in params:
            try:
                param.format(text="", reference="", key="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"template parameter {param!r}: only {{text}}, {{reference}}, {{key}}") from exc
        return params


class RenderLimits(BaseModel):
    """How choices become WhatsApp interactive messages (Cloud API limits are the maxima)."""

    model_config = ConfigDict(extra="forbid")
    reply_buttons_max: int = Field(3, ge=1, le=3)
    button_title_max: int = Field(20, ge=4, le=20)
    list_rows_max: int = Field(10, ge=1, le=10)
    row_title_max: int = Field(24, ge=4, le=24)
    row_description_max: int = Field(72, ge=4, le=72)
    text_max: int = Field(4096, ge=100, le=4096)
    # Body of an interactive message (buttons, list) and media captions: 1024 characters.
    body_max: int = Field(1024, ge=100, le=1024)


class WhatsAppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Graph API version in request paths; None = the version pywa was released for.
    api_version: str | None = None
    # Messages per second for the business number: 80 by default, up to 1,000 when upgraded.
    throughput_per_second: int = Field(80, ge=1, le=1000)
    # Per-person pair rate: one message per this many seconds, after a burst (error 131056).
    pair_interval_seconds: float = Field(6.0, gt=0, le=60)
    pair_burst: int = Field(20, ge=1, le=45)
    # Back-off on 130429 (throughput) and 131056 (pair rate): base * 2^attempt seconds.
    retry_attempts: int = Field(4, ge=0, le=10)
    retry_base_seconds: float = Field(1.0, gt=0, le=60)
    # 131048 (spam flag): bulk sending pauses this long (replies still go).
    spam_pause_minutes: int = Field(60, ge=1)
    # Outside the 24-hour customer-service window: send the template, or wait for the person.
    window_hours: float = Field(24, gt=0, le=24)
    window_policy: Literal["template", "wait"] = "template"
    # A waiting message older than this is dropped (status "expired") instead of sent late.
    wait_max_hours: int = Field(72, ge=1)
    # Meta redelivers for up to 7 days; a signed message older than this is a replay: ignored.
    max_message_age_hours: int = Field(8 * 24, ge=1)
    request_timeout_seconds: float = Field(20, gt=0)
    # People handled at the same time in the background (the webhook answers meanwhile).
    handling_concurrency: int = Field(8, ge=1, le=256)
    # Message kind ("reminder", "approval_notice", "campaign", ...) -> approved template.
    templates: dict[str, TemplateSpec] = Field(default_factory=dict)
    render: RenderLimits = RenderLimits()
