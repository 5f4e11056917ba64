"""The site: versioned input types (spec), catalogs, the load pipeline and the resolved model.

``load_site(path)`` is the one way in: read, decode, defaults, resolve, validate
(gigafactory.site.load). Every other layer reads the resolved objects of
gigafactory.site.model.
"""

from gigafactory.site.load import load_site, parse_site

__all__ = ["load_site", "parse_site"]
