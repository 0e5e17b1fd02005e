#!/usr/bin/env python3
"""Writes N random content keys as JSON lines for `sees keys import` (content IDs bulk-000000001…).

    gen_keys.py N FILE
"""
import os, sys

n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        r = os.urandom(32).hex()
        f.write(f'{{"content_id":"bulk-{i:09d}","key":"{r[:32]}","iv":"{r[32:]}"}}\n')
