#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send one QMP command to a QEMU instance: qmp.py SOCKET COMMAND [key=value...]"""
import json
import socket
import sys


def main():
    sock, cmd = sys.argv[1], sys.argv[2]
    args = dict(a.split("=", 1) for a in sys.argv[3:])
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting
    for req in ({"execute": "qmp_capabilities"},
                {"execute": cmd, "arguments": args}):
        f.write(json.dumps(req) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                break
    print(json.dumps(reply))
    return 0 if "return" in reply else 1


if __name__ == "__main__":
    sys.exit(main())
