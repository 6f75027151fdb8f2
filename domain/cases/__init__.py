"""Network cases: post-sale cases opened at any partner, derived between partners,
homologated and synced to every partner's platform.

Modules: ``models`` (tables), ``states`` (state machine), ``typologies`` (catalog),
``sla`` (business calendars, the sweep), ``scopes`` (views and permissions),
``homologation`` (partner vocabularies), ``service`` (use cases; re-exports
``derivation``, ``comments``, ``reports`` and ``reads``).
"""
