#!/usr/bin/env python3
"""The reference flatten step: what the Azure Function pattern flowlog replaces does per blob.

Per record `json.loads`, pandas `json_normalize` of its flow tuples with the rule / MAC / ACL
they belong to, then one `json.dumps` per tuple of a row dict with the record's and the tuple's
fields. No I/O in the timed part: the files are read and cut into record texts first.

Usage: reference_flatten.py FILE...   Prints: tuples, CPU seconds of the step, tuples/s.
"""
import json
import re
import sys
import time

import pandas as pd

# Records start with `{"time"` in Azure's key order (and flowlog simulate's).
RECORD_START = re.compile(r'\s*,\s*(?=\{"time")')


def record_texts(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    body = text[text.index("[") + 1 : text.rindex("]")]
    return [r for r in RECORD_START.split(body.strip()) if r]


def to_int(v):
    return int(v) if v else None


def flatten(text):
    rec = json.loads(text)
    head = {
        "record_time": rec.get("time"),
        "mac_address": rec.get("macAddress"),
        "resource_id": rec.get("resourceId") or rec.get("flowLogResourceID"),
        "target_resource_id": rec.get("targetResourceID"),
    }
    if "flowRecords" in rec:
        df = pd.json_normalize(
            rec["flowRecords"]["flows"], record_path=["flowGroups", "flowTuples"], meta=["aclID", ["flowGroups", "rule"]]
        )
        groups = zip(df[0], df["flowGroups.rule"], df["aclID"])
    else:
        df = pd.json_normalize(rec["properties"]["flows"], record_path=["flows", "flowTuples"], meta=["rule", ["flows", "mac"]])
        groups = zip(df[0], df["rule"], df["flows.mac"])
    n = 0
    for tup, rule, group in groups:
        f = tup.split(",")
        row = dict(head)
        row.update(
            rule=rule,
            group=group,
            flow_time=int(f[0]),
            src_ip=f[1],
            dst_ip=f[2],
            src_port=int(f[3]),
            dst_port=int(f[4]),
            protocol=f[5],
            direction=f[6],
            decision=f[7],
        )
        if len(f) == 13:
            row.update(
                flow_state=f[8],
                packets_src_to_dst=to_int(f[9]),
                bytes_src_to_dst=to_int(f[10]),
                packets_dst_to_src=to_int(f[11]),
                bytes_dst_to_src=to_int(f[12]),
            )
        json.dumps(row)
        n += 1
    return n


def main():
    texts = [t for path in sys.argv[1:] for t in record_texts(path)]
    start = time.process_time()
    tuples = sum(flatten(t) for t in texts)
    cpu = time.process_time() - start
    print(f"{tuples} {cpu:.3f} {tuples / cpu:.0f}")


if __name__ == "__main__":
    main()
