"""Adapters: the only modules that touch the filesystem, the state store and subprocesses."""
