"""Entry of ``panel serve app/main.py [--args OPTIONS]`` (the options of ``rpf serve``)."""

import sys

from app.server import options_from_args, served_page
from rpf.cli import build_parser

args = build_parser().parse_args(["serve", *sys.argv[1:]])
served_page(options_from_args(args)).servable(title="RPF")
