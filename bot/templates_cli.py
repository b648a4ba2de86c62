"""`python -m bot templates list [--json]`: the WhatsApp templates the project defines
(bot/whatsapp/templates.py), each kind in each language, with its name and category; `--json`
prints each as Graph API's create-template body, one per line, ready for Meta's template API.
"""

from __future__ import annotations

import argparse
import json

from bot.whatsapp.templates import TEMPLATES, graph_body
from conversations.i18n import Catalog
from bot.config import load_config


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="templates_command", required=True)
    listing = sub.add_parser("list", help="the templates: kind, name, language, category")
    listing.add_argument("--json", action="store_true", help="each as Graph API's create-template body")


def run(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    catalog = Catalog.load(tuple(config.languages))
    for template in TEMPLATES:
        for lang in config.languages:
            if args.json:
                print(json.dumps(graph_body(template, catalog, lang), ensure_ascii=False))
            else:
                print(f"{template.kind}\t{template.name}\t{lang}\t{template.category}")
    return 0
