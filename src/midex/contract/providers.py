"""Who provides data: a national statistical office or an international agency. The catalog
stores a provider's kind; the resolution rules (schemas/resolution.yaml) rank sources by it."""

from __future__ import annotations

import enum


class ProviderKind(enum.StrEnum):
    national = "national"
    agency = "agency"
