"""The storefront: `fashion web`, the seed store's website over the serving tables."""
