"""WeChat channels: the Official Account (公众号, ``channels.wechat.channel.WeChatInput`` in credentials.yml) and
WeCom 微信客服 (``channels.wechat.kf.KfInput``).
The pure modules import without Rasa (the tests run them on Python 3.11).

* ``crypto``  signatures and the safe-mode AES envelope
* ``wxml``    the message XML, parsed defensively
* ``render``  bot replies as WeChat text (buttons become numbered lines; the number comes back as the payload)
* ``api``     the WeChat API: stable access token, 客服消息 for replies that miss the 5-second window and agents' lines
* ``channel`` the webhook, the 5-second rule and de-duplication of WeChat's retries
* ``tokens``  one access token per account, shared by the Rasa instances
* ``kf``, ``kf_api``, ``kf_state``  WeCom 微信客服: callback → ``sync_msg`` from a cursor → ``send_msg``
"""
