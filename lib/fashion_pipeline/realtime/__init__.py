"""Real-time recommendations: one scoring rule (`rule`, plain Python) that the Lambda fast path
(`lambda_handler`, run locally by `event_source`) and the Spark streaming job both call, the
DynamoDB items they share (`store`), the Lambda package (`package`) and the offline evaluation of
the rule (`evaluation`).

Nothing imported here at package level: the Lambda zip carries `rule`, `settings`, `store` and
`lambda_handler` without pydantic, numpy, pandas or pyspark."""
