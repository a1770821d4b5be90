"""The Pulumi program: `pulumi up --stack small|metal` deploys deploykit.yaml to that tier."""

from components.program import deploy

deploy()
