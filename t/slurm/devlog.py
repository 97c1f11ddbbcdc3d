#!/usr/bin/env python3
"""A stand-in syslog daemon for t/slurm.sh on machines without one.

Binds a datagram socket at PATH (usually /dev/log) and appends every
message to OUT, one per line, until killed. The socket is made
world-writable from the start (umask 0), so it is usable once it exists.
"""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
os.umask(0)
s.bind(path)
with open(out, "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
