#!/usr/bin/env python3
"""Writes the raw replies of a redis-server that loaded jsonlike.so (see capture.sh) to this directory:
COMMAND INFO and COMMAND DOCS of the module's commands in RESP2 and RESP3, COMMAND LIST, and
COMMAND GETKEYSANDFLAGS of each request in keys.txt (keys.resp2, one reply after the other)."""
import os, socket, sys

here = os.path.dirname(os.path.abspath(__file__))
names = ["json.get", "json.mset", "json.mergex", "json.resetstats", "json.waitfor", "json.debug", "nosuch"]

def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
    def line(self, pos):
        while self.buf.find(b"\r\n", pos) < 0:
            self.buf += self.s.recv(65536)
        return self.buf.index(b"\r\n", pos)
    def frame(self, pos):  # returns the end of the reply starting at pos
        end = self.line(pos)
        t, head = self.buf[pos:pos+1], self.buf[pos+1:end]
        pos = end + 2
        if t in b"$!=":
            n = int(head)
            if n < 0:
                return pos
            while len(self.buf) < pos + n + 2:
                self.buf += self.s.recv(65536)
            return pos + n + 2
        if t in b"*~>%|":
            n = int(head)
            n = n * 2 if t in b"%|" else n
            for _ in range(max(n, 0)):
                pos = self.frame(pos)
            return self.frame(pos) if t == b"|" else pos
        return pos
    def ask(self, *args):
        self.s.sendall(enc(args))
        end = self.frame(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

c = Conn(int(sys.argv[1]))
def write(name, data):
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
write("info.resp2", c.ask("COMMAND", "INFO", *names))
write("docs.resp2", c.ask("COMMAND", "DOCS", *names))
write("list.resp2", c.ask("COMMAND", "LIST", "FILTERBY", "MODULE", "jsonlike"))
keys = b""
for line in open(os.path.join(here, "keys.txt")):
    if line.strip():
        keys += c.ask("COMMAND", "GETKEYSANDFLAGS", *line.split())
write("keys.resp2", keys)
c.ask("HELLO", "3")
write("info.resp3", c.ask("COMMAND", "INFO", *names))
write("docs.resp3", c.ask("COMMAND", "DOCS", *names))
