"""The Messaging API's documented message limits: numbers only, shared by rendering and checking.

https://developers.line.biz/en/reference/messaging-api/#message-objects"""

MAX_MESSAGES = 5
MAX_TEXT = 5000  # UTF-16 code units
MAX_ALT_TEXT = 1500
MAX_BUBBLE_BYTES = 30_000
MAX_QUICK_REPLIES = 13
MAX_QUICK_LABEL = 20
MAX_BUTTON_LABEL = 40
MAX_POSTBACK_DATA = 300
MAX_URI = 1000
