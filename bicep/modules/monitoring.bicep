// Log Analytics workspace + workspace-based Application Insights. OpenTelemetry from the handler and the relay
// (Azure.Monitor.OpenTelemetry.Exporter) and the Functions host's own logs land here: customMetrics, traces,
// requests, dependencies (AppMetrics, AppTraces, ... in the workspace).

@description('Azure region.')
param location string

@description('Base name, e.g. ct-prod.')
param baseName string

@description('Days of log retention in the workspace.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${baseName}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${baseName}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// A connection string is an ingestion address + instrumentation key, not a credential that grants read access.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
