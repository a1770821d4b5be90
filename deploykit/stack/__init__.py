"""A deployed target as the commands see it: its outputs, its stack config, how to reach it.

outputs.py    pure: the one outputs shape every target exports (pydantic), read and written 0600
config.py     pure: the tier settings of `stacks/Pulumi.<stack>.yaml`, validated
cron.py       pure: five-field cron schedules: one parser, Railway's rules (5-minute floor), a timer's
target.py     effectful: choose a target: --stack (the Pulumi CLI), --outputs, the local stack, --url
discovery.py  effectful: NATS Service discovery ($SRV.PING/INFO/STATS), who answers on a target
"""
