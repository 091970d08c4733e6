"""The WeChat Official Account (公众号) channel: ``channels.wechat.channel.WeChatInput`` in credentials.yml.
The pure modules import without Rasa (the tests run them on Python 3.11).

* ``crypto``  signatures and the safe-mode AES envelope
* ``wxml``    the message XML, parsed defensively
* ``render``  bot replies as WeChat text (buttons become numbered lines; the number comes back as the payload)
* ``api``     the WeChat API: stable access token, 客服消息 for replies that miss the 5-second window and agents' lines
* ``channel`` the webhook, the 5-second rule and de-duplication of WeChat's retries
"""
