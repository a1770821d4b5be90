"""Metrics on Grafana Cloud: the stack, a folder, dashboards, alert rules, and a push token.

Two providers, as pulumiverse-grafana documents for Grafana Cloud: one with the cloud access
policy token (`grafana:cloudAccessPolicyToken`) for the stack, its service account and the push
token; one inside the stack (its URL and the service account's token) for folders, dashboards and
alerting. What they hold is decided in `deploykit.small.telemetry`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumiverse_grafana as grafana

from deploykit.manifest.model import Manifest
from deploykit.observability.dashboards import GrafanaRule
from deploykit.small import telemetry
from deploykit.stack.config import GrafanaSettings

__all__ = ["Metrics", "Telemetry"]


@dataclass(frozen=True)
class Telemetry:
    """Where and how apps push metrics: the OTLP endpoint and its Authorization header (secret)."""

    endpoint: pulumi.Output[str]
    headers: pulumi.Output[str]


@dataclass(frozen=True)
class StackView:
    """The fields of a Grafana Cloud stack the tier uses, whether created here or found."""

    slug: pulumi.Output[str]
    id: pulumi.Output[str]
    url: pulumi.Output[str]
    region: pulumi.Output[str]
    otlp_url: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]


class Metrics(pulumi.ComponentResource):
    """deploykit:small:Metrics, a Grafana Cloud stack with the system's dashboards and alerts."""

    def __init__(
        self,
        name: str,
        manifest: Manifest,
        settings: GrafanaSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("deploykit:small:Metrics", name, {}, opts)
        self._name = name
        self._manifest = manifest
        self._settings = settings
        self.check_settings()
        self.cloud = self.connect_cloud()
        self.stack = self.find_or_create_stack()
        self.grafana = self.connect_stack()
        self.folder = self.create_folder()
        self.dashboards = self.create_dashboards()
        self.alerts = self.create_alerts()
        self.telemetry = self.create_push_token()
        self.register_outputs(
            {"grafana_url": self.stack.url, "otlp_endpoint": self.telemetry.endpoint}
        )

    def check_settings(self) -> None:
        telemetry.check_settings(self._settings)

    def _opts(self, provider: pulumi.ProviderResource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=provider)

    def connect_cloud(self) -> grafana.Provider:
        token = pulumi.Config("grafana").require_secret("cloudAccessPolicyToken")
        return grafana.Provider(
            f"{self._name}-cloud",
            cloud_access_policy_token=token,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def find_or_create_stack(self) -> StackView:
        slug = self._settings.stackSlug
        if self._settings.existingStack:
            found = grafana.cloud.get_stack_output(
                slug=slug, opts=pulumi.InvokeOutputOptions(provider=self.cloud, parent=self)
            )
            return StackView(
                found.slug,
                found.id,
                found.url,
                found.region_slug,
                found.otlp_url,
                found.prometheus_url,
            )
        stack = grafana.cloud.Stack(
            f"{self._name}-stack",
            slug=slug,
            name=slug,
            region_slug=self._settings.region,
            description=f"deploykit: {self._manifest.system}",
            delete_protection=True,
            opts=self._opts(self.cloud),
        )
        return StackView(
            stack.slug, stack.id, stack.url, stack.region_slug, stack.otlp_url, stack.prometheus_url
        )

    def connect_stack(self) -> grafana.Provider:
        account = grafana.cloud.StackServiceAccount(
            f"{self._name}-deploykit",
            stack_slug=self.stack.slug,
            name="deploykit",
            role="Admin",
            opts=self._opts(self.cloud),
        )
        token = grafana.cloud.StackServiceAccountToken(
            f"{self._name}-deploykit-token",
            stack_slug=self.stack.slug,
            service_account_id=account.id,
            name="deploykit",
            opts=self._opts(self.cloud),
        )
        return grafana.Provider(
            f"{self._name}-stack-provider",
            url=self.stack.url,
            auth=pulumi.Output.secret(token.key),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def create_folder(self) -> grafana.oss.Folder:
        return grafana.oss.Folder(
            f"{self._name}-folder",
            title=f"{self._manifest.system} (deploykit)",
            uid=telemetry.folder_uid(self._manifest),
            opts=self._opts(self.grafana),
        )

    def create_dashboards(self) -> dict[str, grafana.oss.Dashboard]:
        return {
            key: grafana.oss.Dashboard(
                f"{self._name}-dashboard-{key}",
                config_json=board,
                folder=self.folder.uid,
                overwrite=True,
                opts=self._opts(self.grafana),
            )
            for key, board in telemetry.dashboards(self._manifest).items()
        }

    def create_alerts(self) -> grafana.alerting.RuleGroup:
        source = grafana.oss.get_data_source_output(
            name=self.stack.slug.apply(telemetry.datasource_name),
            opts=pulumi.InvokeOutputOptions(provider=self.grafana, parent=self),
        )
        return grafana.alerting.RuleGroup(
            f"{self._name}-alerts",
            name=f"{self._manifest.system} deploykit",
            folder_uid=self.folder.uid,
            interval_seconds=60,
            rules=[_rule(rule, source.uid) for rule in telemetry.rules(self._manifest)],
            opts=self._opts(self.grafana),
        )

    def create_push_token(self) -> Telemetry:
        system = self._manifest.system
        policy = grafana.cloud.AccessPolicy(
            f"{self._name}-push",
            name=f"{system}-deploykit-push",
            display_name=f"{system}: apps push metrics, logs and traces",
            region=self.stack.region,
            scopes=telemetry.PUSH_SCOPES,
            realms=[grafana.cloud.AccessPolicyRealmArgs(type="stack", identifier=self.stack.id)],
            opts=self._opts(self.cloud),
        )
        token = grafana.cloud.AccessPolicyToken(
            f"{self._name}-push-token",
            name=f"{system}-deploykit-push",
            region=self.stack.region,
            access_policy_id=policy.policy_id,
            opts=self._opts(self.cloud),
        )
        headers = pulumi.Output.all(self.stack.id, token.token).apply(
            lambda values: telemetry.otlp_headers(values[0], values[1])
        )
        return Telemetry(endpoint=self.stack.otlp_url, headers=pulumi.Output.secret(headers))


def _rule(
    rule: GrafanaRule, datasource_uid: pulumi.Output[str]
) -> grafana.alerting.RuleGroupRuleArgs:
    query = grafana.alerting.RuleGroupRuleDataArgs(
        ref_id="A",
        datasource_uid=datasource_uid,
        relative_time_range=grafana.alerting.RuleGroupRuleDataRelativeTimeRangeArgs(
            from_=600, to=0
        ),
        model=json.dumps(rule.query_model),
    )
    threshold = grafana.alerting.RuleGroupRuleDataArgs(
        ref_id="B",
        datasource_uid="__expr__",
        relative_time_range=grafana.alerting.RuleGroupRuleDataRelativeTimeRangeArgs(from_=0, to=0),
        model=json.dumps(rule.threshold_model),
    )
    return grafana.alerting.RuleGroupRuleArgs(
        name=rule.name,
        condition="B",
        for_=rule.for_,
        datas=[query, threshold],
        no_data_state=rule.no_data_state,
        exec_err_state="Error",
        labels=rule.labels,
        annotations=rule.annotations,
    )
