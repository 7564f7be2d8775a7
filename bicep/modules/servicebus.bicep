// Service Bus Standard namespace (sessions and duplicate detection need Standard or Premium).
// - `pbx-frames`: relay → IngestFrames. Sessions = one per PBX (SessionId = pbx) keep a PBX's frames in order;
//   duplicate detection on MessageId `pbx:session:seq` with a long window so a relay that was offline for hours and
//   resends from its outbox after an unknown outcome cannot create duplicates (the database key (pbx, session, seq)
//   is the second line of defence).
// - `sms`: outbox → SmsDispatch.
// - `call-events` (topic): the live call events (CloudEvents, structured mode) the Function app sends; one
//   subscription per consumer with a SQL filter on the `enterprise` application property, sessions on (SessionId =
//   pbx:callKey keeps each call's events in order), duplicate detection on MessageId = the CloudEvent id.
// The relays send with a send-only SAS rule on `pbx-frames` (on site there is no managed identity); its key goes
// to Key Vault, never into a template output. The Function app uses its managed identity (Data Receiver + Sender).

param location string

@description('Namespace name: 6-50 letters, digits and hyphens, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Principal id of the Function app identity.')
param principalId string

@description('Key Vault that receives the relay SAS key and connection string.')
param keyVaultName string

@description('Duplicate detection window of pbx-frames (ISO 8601, 20 s .. 7 days). Must cover the longest relay outage.')
param duplicateDetectionWindow string = 'P1D'

@description('Deliveries before a frames batch is dead-lettered (each failed invocation is one delivery).')
@minValue(1)
@maxValue(100)
param framesMaxDeliveryCount int = 10

@description('Consumers of the call-events topic: one subscription each, filtered to one enterprise (name = subscription name, 1-50 letters, digits, hyphens; enterprise = the enterprise name as ./ct admin enterprise list shows it).')
param eventConsumers array = []

param tags object = {}

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration).
// Azure Service Bus Data Receiver: the serviceBusTrigger receives from pbx-frames and sms.
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
// Azure Service Bus Data Sender: the app enqueues SMS (output binding / outbox dispatcher).
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: false // the relays' SAS rule needs local (SAS) auth
  }
}

resource framesQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'pbx-frames'
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxDeliveryCount: framesMaxDeliveryCount
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: 'PT1M'
    maxSizeInMegabytes: 5120
    // Not partitioned: the relay sends ServiceBusMessageBatches holding many MessageIds, and a partitioned entity
    // with duplicate detection refuses batches of distinct MessageIds.
    enablePartitioning: false
  }
}

resource smsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'sms'
  properties: {
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 5
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
    lockDuration: 'PT1M'
    maxSizeInMegabytes: 1024
  }
}

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: 'call-events'
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    defaultMessageTimeToLive: 'P1D'
    maxSizeInMegabytes: 1024
    enablePartitioning: false
    supportOrdering: true
  }
}

resource eventSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for consumer in eventConsumers: {
  parent: eventsTopic
  name: consumer.name
  properties: {
    requiresSession: true
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
    lockDuration: 'PT1M'
  }
}]

// Only the consumer's enterprise: the SQL filter on the message's `enterprise` application property. The subscription's
// default rule ($Default, 1=1) is replaced by this one.
resource eventFilters 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [for (consumer, i) in eventConsumers: {
  parent: eventSubscriptions[i]
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: 'enterprise = \'${replace(consumer.enterprise, '\'', '\'\'')}\''
    }
  }
}]

// Send-only, scoped to the frames queue: a stolen relay key can only add frames (and duplicates are dropped).
resource relaySendRule 'Microsoft.ServiceBus/namespaces/queues/authorizationRules@2024-01-01' = {
  parent: framesQueue
  name: 'relay-send'
  properties: {
    rights: [ 'Send' ]
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource relayKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'relay-servicebus-sas-key'
  properties: {
    value: relaySendRule.listKeys().primaryKey
    contentType: 'SAS key of rule relay-send on queue pbx-frames (key name relay-send)'
  }
}

resource relayConnectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'relay-servicebus-connection'
  properties: {
    value: relaySendRule.listKeys().primaryConnectionString
    contentType: 'Service Bus connection string, send-only on pbx-frames'
  }
}

var roles = [ serviceBusDataReceiver, serviceBusDataSender ]

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(namespace.id, principalId, role)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

output id string = namespace.id
output name string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.<cloud suffix>:443/ – take the host, so sovereign clouds work too.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output framesQueueName string = framesQueue.name
output smsQueueName string = smsQueue.name
output eventsTopicName string = eventsTopic.name
output relayKeySecretName string = relayKeySecret.name
output relayConnectionSecretName string = relayConnectionSecret.name
