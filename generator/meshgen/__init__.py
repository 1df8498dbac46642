"""meshgen: one mesh.yaml in Git describes a multi-cluster Istio mesh; meshgen renders the rest."""

__version__ = "0.1.0"
