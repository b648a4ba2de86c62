"""Text one person wrote, shown to another: a worker's message to an official, an official's
answer to a worker. It is framed as a quote and carries no markup of its own:

- every line starts with the quote bar "│ ", so nothing in it can pass for a line the bot
  wrote ("💬 T2 · petugas:");
- the characters both platforms read as formatting (WhatsApp's *bold*, _italic_, ~strike~,
  `mono`; Telegram's bold as this project renders it) become look-alikes that are not markup;
- nothing in it is tappable: a "/command" loses its slash, links and domains their dots, an
  "@name" its at sign (Telegram makes each of them a link or a command to tap).

The words stay readable as the person wrote them. What is stored is the text as typed (NIKs
masked before that); this is only how it is shown.
"""

from __future__ import annotations

import re

QUOTE_BAR = "│ "
# Formatting characters -> look-alikes that no platform formats. Only a pair that would format
# (WhatsApp's rule: "*bold*", the text inside neither starting nor ending with a space, the
# markers not touching a letter outside) is changed: a masked NIK's stars stay as they are.
_LOOKALIKE = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_PAIRS = [re.compile(rf"(?<![\w{re.escape(m)}]){re.escape(m)}(?=[^\s{re.escape(m)}])([^{re.escape(m)}\n]*?"
                     rf"[^\s{re.escape(m)}]){re.escape(m)}(?![\w{re.escape(m)}])") for m in _LOOKALIKE]
_FENCE = re.compile("```")
# A command: "/" at the start of a word, then a letter ("/setujui", "/balas").
_COMMAND = re.compile(r"(?<![\w/])/(?=[A-Za-z])")
# A link: a scheme, or a "www." host, or a word.word... ending in letters (a domain).
_SCHEME = re.compile(r"(?i)\b(https?|ftp|tg|mailto|tel|sms|whatsapp|wa|intent|javascript|data|file):(//)?(?=\S)")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9-])\.(?=[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*\b)(?=[A-Za-z0-9])")
_MENTION = re.compile(r"(?<!\w)@(?=\w)")
_HASHTAG = re.compile(r"(?<![\w&])#(?=[A-Za-z])")
_BLANK_RUN = re.compile(r"\n{3,}")


def plain(text: str) -> str:
    """The text with no markup, no command, link or mention to tap, on one or more lines."""
    text = _FENCE.sub("\u02cb\u02cb\u02cb", text)
    for marker, pair in zip(_LOOKALIKE.values(), _PAIRS):
        text = pair.sub(lambda m, marker=marker: marker + m.group(1) + marker, text)
    text = _COMMAND.sub("\u2215", text)  # division slash: reads as "/", is not a command
    text = _SCHEME.sub(lambda m: m.group(1) + "\u2236" + ("\u2215\u2215" if m.group(2) else ""), text)
    text = _DOMAIN_DOT.sub("\u2024", text)  # one dot leader: reads as ".", is not a domain
    text = _MENTION.sub("\uff20", text)
    return _HASHTAG.sub("\uff03", text)


def quoted(text: str) -> str:
    """`plain(text)`, every line behind the quote bar."""
    text = _BLANK_RUN.sub("\n\n", plain(text).strip())
    return "\n".join(QUOTE_BAR + line for line in text.splitlines()) or QUOTE_BAR
