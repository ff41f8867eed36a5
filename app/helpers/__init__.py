"""Business rules and storage: the services, the tables, DynamoDB and the app state."""
