#!/usr/bin/python3
# A stand-in for the syslog daemon behind /dev/log, for the audit tests:
# every datagram received on SOCKET is stored, byte for byte, as its own
# file DIR/NNNNNN, so a test can count records and see their exact bytes.
# DIR/ready appears once the socket accepts messages from any user.
import os
import socket
import sys

sock_path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
os.chmod(sock_path, 0o666)
open(os.path.join(out, "ready"), "w").close()
n = 0
while True:
    data = s.recv(65536)
    n += 1
    tmp = os.path.join(out, ".%06d" % n)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(out, "%06d" % n))
