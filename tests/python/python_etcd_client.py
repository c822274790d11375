"""python-etcd (the v2 client from PyPI) against a server on
127.0.0.1:<port> started with --enable-v2: writes, reads, directories and
their listing, in-order keys, compare-and-swap, watches and TTL expiry.
Prints a final line the Rust test looks for; any failed check raises."""

import sys
import threading
import time

import etcd

port = int(sys.argv[1])
client = etcd.Client(host="127.0.0.1", port=port, protocol="http")

# Write and read.
r = client.write("/testkey", "hello")
assert r.value == "hello" and r.action == "set", r
r = client.write("/testkey", "world", prevExist=True)
assert r.action == "update" and r._prev_node.value == "hello", r
assert client.read("/testkey").value == "world"
try:
    client.read("/testkey2")
    raise AssertionError("a missing key was found")
except etcd.EtcdKeyNotFound as e:
    assert "Key not found" in str(e), e

# Compare-and-swap and create-only.
client.test_and_set("/testkey", "again", "world")
try:
    client.test_and_set("/testkey", "x", "world")
    raise AssertionError("a CAS with a stale value passed")
except ValueError as e:
    assert "Compare failed" in str(e), e
try:
    client.write("/testkey", "y", prevExist=False)
    raise AssertionError("create-only overwrote a key")
except etcd.EtcdAlreadyExist:
    pass

# Directories: create, list (recursive, sorted), in-order keys, delete.
client.write("/dir", None, dir=True)
client.write("/dir/b", "2")
client.write("/dir/a", "1")
client.write("/dir/sub/c", "3")
listing = client.read("/dir", recursive=True, sorted=True)
keys = [c.key for c in listing.leaves]
assert keys == ["/dir/a", "/dir/b", "/dir/sub/c"], keys
q1 = client.write("/queue", "job1", append=True)
q2 = client.write("/queue", "job2", append=True)
assert q1.key < q2.key and q1.key.startswith("/queue/"), (q1.key, q2.key)
queue = [c.value for c in client.read("/queue", sorted=True).children]
assert queue == ["job1", "job2"], queue
try:
    client.delete("/dir", dir=True)
    raise AssertionError("a non-empty directory was removed")
except etcd.EtcdDirNotEmpty:
    pass
client.delete("/dir", recursive=True)
try:
    client.read("/dir")
    raise AssertionError("a removed directory is still there")
except etcd.EtcdKeyNotFound:
    pass

# Watch: a wait for the next change returns it; waitIndex replays history.
base = client.read("/testkey").modifiedIndex
seen = []


def watch():
    seen.append(client.watch("/watched", timeout=10))


t = threading.Thread(target=watch)
t.start()
time.sleep(0.5)
client.write("/watched", "v1")
t.join(15)
assert seen and seen[0].value == "v1" and seen[0].action == "set", seen
old = client.read("/testkey", wait=True, waitIndex=base)
assert old.modifiedIndex == base and old.value == "again", old

# TTL: the key is listed with its TTL, then expires.
r = client.write("/ttl", "x", ttl=2)
assert r.ttl is not None and 0 < r.ttl <= 2, r.ttl
expired = client.read("/ttl", wait=True, waitIndex=r.modifiedIndex + 1, timeout=10)
assert expired.action == "expire" and expired.key == "/ttl", expired
try:
    client.read("/ttl")
    raise AssertionError("an expired key is still there")
except etcd.EtcdKeyNotFound:
    pass

# Members and machines, as the client discovers the cluster.
assert len(client.machines) == 1, client.machines
assert len(client.members) == 1, client.members

print("all python-etcd checks passed")
