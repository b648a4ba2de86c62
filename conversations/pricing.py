"""What a broadcast costs on WhatsApp, in words: pure (plain numbers in, text out).

Meta charges per delivered *template*, by the template's category (a broadcast goes as a
MARKETING template); a free-form message to a person inside their 24-hour window is free, and
so is every Telegram message (and the terminal's). The counts come from handlers/campaign_cost.py:
before sending, from each person's last message; after sending, from what the WhatsApp sender
recorded. The rate comes from config.yaml (`whatsapp.pricing`), with the date it was read and
whether it is confirmed, both of which every estimate repeats: a number read by hand from a rate
card must not look like an invoice.

Money is written the Indonesian way in both languages, as everywhere in the bot ("Rp 16.800"):
rupiah in whole rupiah, other currencies to the cent; a rate keeps its own decimals
("Rp 586,33"). Amounts round half up (Rp 1.758,50 -> Rp 1.759), never to even.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from conversations.i18n import rupiah

# Decimals an amount (not a rate) is rounded to, by currency; others: 2 (cents).
MINOR_DIGITS = {"IDR": 0, "JPY": 0}
CURRENCY_SIGNS = {"IDR": "Rp", "USD": "US$"}


@dataclass(frozen=True)
class Rate:
    """One category's price per delivered template, as config.yaml states it."""

    category: str  # Meta's category: MARKETING, UTILITY, AUTHENTICATION
    amount: Decimal | None  # None: config.yaml names no price for the category
    currency: str  # ISO 4217: IDR, USD, ...
    read_on: date | None = None
    unconfirmed: bool = True


@dataclass(frozen=True)
class Recipients:
    """A broadcast's messages by what each costs: before sending, people (as of the count);
    after sending, messages sent. Plain counts, kept as JSON in the draft and the report."""

    window: int = 0  # WhatsApp, inside the person's 24-hour window: free-form, free
    template: int = 0  # WhatsApp, outside it: a template of the broadcast's category, paid
    held: int = 0  # WhatsApp, outside it with window policy "wait": held until they write, free
    telegram: int = 0  # free
    other: int = 0  # any other channel (the terminal's "local:"): free
    # After sending: templates Meta has reported delivered so far (None before sending).
    delivered: int | None = None
    # After sending: templates Meta reported failed, which it does not charge.
    failed: int = 0

    @property
    def billable(self) -> int:
        """Templates that may be charged: those sent, less those Meta said failed."""
        return max(0, self.template - self.failed)

    def cost(self, rate: Rate) -> Decimal | None:
        """The exact cost (None when the category has no price): free messages cost nothing."""
        if self.billable == 0:
            return Decimal(0)
        return None if rate.amount is None else rate.amount * self.billable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Recipients | None":
        if not data:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def number(amount: Decimal, decimals: int) -> str:
    """1234.5 -> "1.234,50" (dot between thousands, comma before decimals)."""
    text = f"{amount:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def money(amount: Decimal, currency: str) -> str:
    """An amount rounded half up to the currency's smallest coin: "Rp 1.759", "US$ 12,35"."""
    digits = MINOR_DIGITS.get(currency, 2)
    rounded = amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if currency == "IDR":
        return rupiah(int(rounded))
    return f"{CURRENCY_SIGNS.get(currency, currency)} {number(rounded, digits)}"


def price(amount: Decimal, currency: str) -> str:
    """A rate with every decimal it has, and at least two when it has any: "Rp 500",
    "Rp 586,33", "Rp 1.000,50", "US$ 0,0411"."""
    exponent = amount.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    digits = max(MINOR_DIGITS.get(currency, 2), 2 if decimals else 0, decimals)
    return f"{CURRENCY_SIGNS.get(currency, currency)} {number(amount, digits)}"


def day(moment: date) -> str:
    return moment.strftime("%d-%m-%Y")


def rate_note(t: Callable[..., str], lang: str, rate: Rate) -> str:
    """Where the rate comes from: its date and whether it is confirmed."""
    when = day(rate.read_on) if rate.read_on else t(lang, "pricing.rate.undated")
    key = "pricing.rate.unconfirmed" if rate.unconfirmed else "pricing.rate.confirmed"
    return t(lang, key, date=when)


def cost_line(t: Callable[..., str], lang: str, recipients: Recipients, rate: Rate, sent: bool = False) -> str:
    """The estimate in one line, with where its rate comes from."""
    cost = recipients.cost(rate)
    if cost is None:
        return t(lang, "pricing.cost_unknown", category=rate.category)
    key = "pricing.cost_sent" if sent else "pricing.cost"
    return f"{t(lang, key, cost=money(cost, rate.currency))} {rate_note(t, lang, rate)}"


def describe(t: Callable[..., str], lang: str, recipients: Recipients, rate: Rate, sent: bool = False) -> str:
    """Per channel: who gets a free message, who a paid template, and what it all costs.
    `sent`: the report's figures (messages sent) rather than the composer's (people now)."""
    stage = "sent" if sent else "plan"
    each = price(rate.amount, rate.currency) if rate.amount is not None else "-"
    lines = [t(lang, f"pricing.{stage}.heading"),
             t(lang, f"pricing.{stage}.window", count=recipients.window)]
    if sent:
        delivered = recipients.delivered if recipients.delivered is not None else 0
        lines.append(t(lang, "pricing.sent.template", count=recipients.template, category=rate.category,
                       delivered=delivered, failed=recipients.failed, rate=each))
    elif recipients.template or not recipients.held:
        lines.append(t(lang, "pricing.plan.template", count=recipients.template, category=rate.category, rate=each))
    if recipients.held:
        lines.append(t(lang, f"pricing.{stage}.held", count=recipients.held))
    lines.append(t(lang, f"pricing.{stage}.telegram", count=recipients.telegram))
    if recipients.other:
        lines.append(t(lang, f"pricing.{stage}.other", count=recipients.other))
    lines.append(cost_line(t, lang, recipients, rate, sent))
    return "\n".join(lines)
