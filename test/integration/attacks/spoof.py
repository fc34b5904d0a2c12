#!/usr/bin/env python3
# Spoofed TFTP read requests for the hardening lab: raw IPv4 packets whose
# source is forged, half from random addresses of the served network (the
# server's replies then go to hosts that never asked), half from outside it
# (203.0.113.0/24, which must get nothing at all). Run inside the attacker's
# namespace: spoof.py SERVER RATE SECONDS FILE. Prints one JSON line.
import json, random, socket, struct, sys, time

server, rate, seconds, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL
dst = socket.inet_aton(server)
payload = b"\x00\x01" + name.encode() + b"\x00octet\x00blksize\x001468\x00tsize\x000\x00"

def packet(src):
    sport = random.randint(1024, 65535)
    udp = struct.pack("!HHHH", sport, 69, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    # The kernel fills in the total length and the header checksum.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, random.randint(0, 65535), 0, 64, socket.IPPROTO_UDP, 0, src, dst)
    return ip + udp

sent = inside = outside = 0
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    due = int((time.monotonic() - t0) * rate)
    while sent < due:
        if sent % 2:
            src = bytes([10, 0, 0, random.randint(100, 199)])
            inside += 1
        else:
            src = bytes([203, 0, 113, random.randint(1, 254)])
            outside += 1
        try:
            s.sendto(packet(src), (server, 0))
        except OSError:
            pass
        sent += 1
    time.sleep(0.005)
print(json.dumps({"kind": "tftp-spoof", "sent": sent, "inside": inside, "outside": outside}))
