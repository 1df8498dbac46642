"""meshgen: one mesh.yaml in Git describes a multi-cluster Istio mesh; meshgen renders the rest."""

__version__ = "0.2.0"
# The distribution on PyPI (`pip install istio-meshgen`); the command is `meshgen`.
DISTRIBUTION = "istio-meshgen"
