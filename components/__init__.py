"""Pulumi components of the gigafactory platform, one ComponentResource per module.

Components consume the library's site model (gigafactory.site.model) and never parse YAML or
compute capacity; every chart and image version is pinned in components/versions.py.
"""
