"""Business logic and infrastructure: DynamoDB access, password hashing, the users service."""
