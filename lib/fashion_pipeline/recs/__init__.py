"""The nightly recommender: signals (pure transforms), ALS fitting and blocked scoring, the
train_als pipeline, offline evaluation (MAP@12), and the DynamoDB serving tables."""
