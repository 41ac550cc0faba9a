#!/usr/bin/env python3
"""The web pages run under a Content-Security-Policy without inline script, and server
data is only ever written as text: no page may carry an inline <script> or an on*
attribute (the policy would block it), and no script may write HTML (innerHTML,
outerHTML, insertAdjacentHTML, document.write) — the stored-XSS hole of issue #9.
    web_static_check.py WEB_ROOT"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
problems = []
for page in sorted(root.rglob("*.html")):
    text = page.read_text(encoding="utf-8")
    for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I):
        if "src=" not in m.group(1) or m.group(2).strip():
            problems.append(f"{page}: an inline <script>")
    for m in re.finditer(r"<[^>]*\son[a-z]+\s*=", text, re.I):
        problems.append(f"{page}: an inline event handler: {m.group(0)[:60]}")
for script in sorted(root.rglob("*.js")):
    text = script.read_text(encoding="utf-8")
    for name in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        if name in text:
            problems.append(f"{script}: uses {name}")
for p in problems:
    print(p)
if not any(root.rglob("*.html")):
    print(f"no pages under {root}")
    sys.exit(1)
sys.exit(1 if problems else 0)
