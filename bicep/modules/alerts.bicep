// Alerts. Metric names are the ones the handler and the relay emit with Meter("CloudTelephony") through
// Azure.Monitor.OpenTelemetry.Exporter (table customMetrics, tags in customDimensions):
//   relay:     ct.relay.frames.received, ct.relay.frames.forwarded, ct.relay.pbx.connected (gauge 1/0) — pbx, protocol
//   functions: ct.ingest.frames, ct.ingest.parse_errors, ct.ingest.calls (+ status) — pbx, protocol
//              ct.routing.duration (ms), ct.sms.sent, ct.sms.failed — from the routing and SMS functions
// OpenTelemetry histograms reach customMetrics as sum/count/min/max per interval, without percentiles, so the
// routing p99 is computed from the request durations of GetCustomerData instead.

param location string
param baseName string

@description('Application Insights component (scope of the log alerts).')
param appInsightsId string

@description('Service Bus namespace (scope of the dead-letter metric alert).')
param serviceBusId string

@description('Action group to notify; empty = alerts fire without notifications.')
param actionGroupId string = ''

param tags object = {}

var actionGroups = empty(actionGroupId) ? [] : [ actionGroupId ]

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${baseName}-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'A message was dead-lettered on pbx-frames or sms (a batch failed maxDeliveryCount times, or expired). Inspect <queue>/$deadletterqueue.'
    severity: 1
    enabled: true
    scopes: [ serviceBusId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ '*' ] } ]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroups: { actionGroupId: id }]
  }
}

// name, severity, description, query, measured column ('' = count rows), threshold, window
var logAlerts = [
  {
    name: 'function-failures'
    severity: 1
    description: 'Function invocations failed (non-2xx from the handler, timeouts): Service Bus will redeliver, then dead-letter.'
    query: 'requests | where success == false and not(resultCode startswith "4") | summarize failures = count() by operation_Name'
    measure: 'failures'
    threshold: 0
    window: 'PT5M'
  }
  {
    name: 'relay-heartbeat-missing'
    severity: 1
    description: 'A relay or one of its PBX connections reported nothing (or "disconnected") for 5 minutes.'
    query: 'customMetrics | where name == "ct.relay.pbx.connected" | extend pbx = tostring(customDimensions.pbx) | summarize arg_max(timestamp, value) by pbx | where timestamp < ago(5m) or value < 1 | summarize silent = count() by pbx'
    measure: 'silent'
    threshold: 0
    window: 'PT1H'
  }
  {
    name: 'routing-p99'
    severity: 2
    description: 'Smart Redirect lookups (GetCustomerData) are slower than 200 ms at the 99th percentile; the Asterisk macro waits on them.'
    query: 'requests | where operation_Name =~ "GetCustomerData" or url has "/api/callevent/getcustomerdata" | summarize p99 = percentile(duration, 99)'
    measure: 'p99'
    threshold: 200
    window: 'PT15M'
  }
  {
    name: 'sms-error'
    severity: 2
    description: 'SMS ended in status ERROR (provider refused or retries exhausted).'
    query: 'customMetrics | where name == "ct.sms.failed" | summarize failed = sum(valueSum)'
    measure: 'failed'
    threshold: 0
    window: 'PT15M'
  }
]

resource scheduledAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for a in logAlerts: {
  name: 'alert-${baseName}-${a.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'CloudTelephony ${a.name}'
    description: a.description
    severity: a.severity
    enabled: true
    scopes: [ appInsightsId ]
    evaluationFrequency: 'PT5M'
    windowSize: a.window
    criteria: {
      allOf: [
        {
          query: a.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: a.measure
          operator: 'GreaterThan'
          threshold: a.threshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: { actionGroups: actionGroups }
  }
}]

output metricAlertIds array = [ deadLetters.id ]
output logAlertNames array = [for (a, i) in logAlerts: scheduledAlerts[i].name]
