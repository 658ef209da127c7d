"""Framework plugins (LangChain, LlamaIndex): thin wrappers over :class:`polyvec.Pipeline`.

Each is imported lazily; a missing framework raises an error naming the extra to install.
"""
