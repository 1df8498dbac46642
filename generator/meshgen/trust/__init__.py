"""Secret material meshgen makes but never commits: CAs, remote secrets, sealed ciphertext.

The modules here build keys, certificates and Kubernetes objects in memory and have no side
effects besides randomness; ``meshgen.adapters.secret_files`` writes them, outside Git.
"""
