"""`deploykit new service`: a small runnable service on the runtime, added to deploykit.yaml.

plan.py   pure: the manifest entry and the files (code, test, container recipe) for a new
          service, from templates/service/; the laws' verdict on the manifest with it added
write.py  effectful: deploykit.yaml edited with its comments kept (ruamel.yaml round trip) and
          the files written, only once everything has been checked
"""
