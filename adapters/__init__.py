"""Retrieval backends: each turns encoder output into named Qdrant vector fields.

Modules are imported lazily through :data:`polyvec.registry.adapters`.
"""
