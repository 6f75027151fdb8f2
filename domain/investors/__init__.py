"""Investors: registration and KYC, funding credits, distributions of payments,
settlements (liquidaciones) and portfolios. See ``docs/investors.md``."""
