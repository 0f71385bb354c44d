"""Knowledge about Kubernetes kinds: pure, no I/O.

What an object refers to (`references`) and how a user may spell a type
(`spellings`). The ground floor: imports nothing from backupd but `backupd.errors`,
so backup, restore and the CLI can all build on it.
"""
