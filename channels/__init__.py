"""Rasa custom input channels (run inside the Rasa 3.10 runtime: keep them on rasa's own dependencies).

Importing this package (Rasa does, for the channels in credentials.yml) also applies the measured Rasa
hot-path fixes in ``rasa_patches`` and, from ``once``, at-most-once handling of a message its client retries.
"""

from channels import once, rasa_patches

rasa_patches.apply()
once.apply()
