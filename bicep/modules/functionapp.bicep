// The Function app: Linux, custom handler (our self-contained linux-x64 `handler` executable, see host.json).
//
// Plan choice (parameter `plan`):
// - 'FlexConsumption' (default, FC1): the current serverless plan for Linux (Linux Consumption Y1 is retiring on
//   30 Sep 2028); it lists a `custom` runtime, so the app declares functionAppConfig.runtime {name: 'custom',
//   version: '1.0'} instead of FUNCTIONS_WORKER_RUNTIME. Pay per use, scale to zero, per-instance concurrency,
//   deployment package read from a blob container with the managed identity, optional VNet integration.
//   Cost of the choice: cold starts (our handler starts in well under a second, so mostly the host's own start).
// - 'ElasticPremium' (EP1..): always-warm instances (no cold start for the Smart Redirect lookup, which must answer
//   within ~300 ms while a caller waits), VNet integration, unbounded run duration; billed per instance-hour even
//   when idle. Choose it when routing latency matters more than cost.
// Both run the same zip: host.json, one folder per function, and `handler` with its exec bit.

param location string
param baseName string

@allowed([ 'FlexConsumption', 'ElasticPremium' ])
param plan string = 'FlexConsumption'

@description('Elastic Premium SKU (plan=ElasticPremium).')
@allowed([ 'EP1', 'EP2', 'EP3' ])
param premiumSku string = 'EP1'

@description('Flex Consumption: instance memory (MB).')
@allowed([ 512, 2048, 4096 ])
param flexInstanceMemoryMB int = 2048

@description('Flex Consumption: most instances the app scales to.')
@minValue(1)
@maxValue(1000)
param flexMaximumInstanceCount int = 40

@description('User-assigned identity resource id, client id.')
param identityId string
param identityClientId string

@description('Storage account (identity-based AzureWebJobsStorage).')
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param archiveContainerName string

param appInsightsConnectionString string

@description('Service Bus host name, e.g. ct-prod.servicebus.windows.net.')
param serviceBusNamespace string

@description('Key Vault secret URI of the PostgreSQL connection string.')
param postgresSecretUri string

@description('More app settings (the web app\'s sign-in settings from main.bicep).')
param extraAppSettings object = {}

param tags object = {}

var isFlex = plan == 'FlexConsumption'

resource hostingPlan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'asp-${baseName}'
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? { name: 'FC1', tier: 'FlexConsumption' } : { name: premiumSku, tier: 'ElasticPremium' }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

// Settings common to both plans. Connections use the user-assigned identity:
// <prefix>__credential=managedidentity + <prefix>__clientId select it; the service URIs replace connection strings.
var commonSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  // function.json serviceBusTrigger bindings (IngestFrames, SmsDispatch) use "connection": "ServiceBusConnection": the
  // Functions host's Service Bus extension (extension bundle) reads <connection>__fullyQualifiedNamespace for an
  // identity connection (with __credential / __clientId for a user-assigned identity), or a setting named
  // ServiceBusConnection holding a connection string. The app stays a custom handler: the isolated worker's
  // Microsoft.Azure.Functions.Worker.Extensions.ServiceBus package is not served to this project.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // Live call events to the call-events topic through the SDK with the same identity (Data Sender on the namespace).
  Events__ServiceBus__Endpoint: 'sb://${serviceBusNamespace}'
  Events__ServiceBus__UseEntraId: 'true'
  Events__ServiceBus__ManagedIdentityClientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  // Read through the Key Vault reference identity below; the secret value never appears in the template.
  ConnectionStrings__Postgres: '@Microsoft.KeyVault(SecretUri=${postgresSecretUri})'
  Archive__BlobServiceUri: storageBlobEndpoint
  Archive__Container: archiveContainerName
  Archive__ClientId: identityClientId
}

// Flex declares the runtime in functionAppConfig and rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION.
// Elastic Premium needs both. WEBSITE_RUN_FROM_PACKAGE=1: zip deploy mounts the package read-only, so no Azure
// Files content share (and no storage account key) is needed on Linux.
var premiumSettings = {
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  FUNCTIONS_EXTENSION_VERSION: '~4'
  WEBSITE_RUN_FROM_PACKAGE: '1'
}

var settings = union(isFlex ? commonSettings : union(commonSettings, premiumSettings), extraAppSettings)

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${baseName}'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: hostingPlan.id
    httpsOnly: true
    reserved: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: isFlex
      ? {
          runtime: { name: 'custom', version: '1.0' }
          deployment: {
            storage: {
              type: 'blobContainer'
              value: '${storageBlobEndpoint}${deploymentContainerName}'
              authentication: {
                type: 'UserAssignedIdentity'
                userAssignedIdentityResourceId: identityId
              }
            }
          }
          scaleAndConcurrency: {
            instanceMemoryMB: flexInstanceMemoryMB
            maximumInstanceCount: flexMaximumInstanceCount
          }
        }
      : null
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Elastic Premium: keep one instance warm for routing lookups; Flex has no pre-warmed setting here.
      minimumElasticInstanceCount: isFlex ? null : 1
      appSettings: [for s in items(settings): { name: s.key, value: s.value }]
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
