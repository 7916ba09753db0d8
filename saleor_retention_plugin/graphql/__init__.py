"""The loyalty GraphQL API (graphene 2, Saleor's conventions), served by the plugin.

``schema.py`` assembles the schema, ``view.py`` serves it at
``/plugins/channel/<channel-slug>/saleor.retention/graphql/``. The package is named
``graphql`` inside ours; graphql-core stays importable as the top-level ``graphql``.
"""
