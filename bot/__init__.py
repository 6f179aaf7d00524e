"""A LINE bot that explains webhook, LINE app and Messaging API errors."""
