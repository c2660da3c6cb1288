"""The HTTP service (extra ``serve``): search and autocomplete endpoints over saved polymodal models."""
