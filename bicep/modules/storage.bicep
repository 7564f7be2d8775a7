// Storage account for the Functions host (AzureWebJobsStorage over the managed identity: no account keys anywhere,
// shared-key access is off) and the raw-frame archive (container `frame-archive`, gzip JSON Lines per PBX per day).
// On Flex Consumption the deployment package also lives here (container `app-package`).

param location string

@description('Storage account name: 3-24 lower-case letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Principal id of the Function app identity that gets the data-plane roles below.')
param principalId string

param tags object = {}

@description('Container that holds the Flex Consumption deployment package.')
param deploymentContainerName string = 'app-package'

@description('Container for the raw-frame archive.')
param archiveContainerName string = 'frame-archive'

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage).
// Storage Blob Data Owner: the Functions host keeps its locks/keys in blobs and Flex reads the package; the
// archive writes and deletes blobs.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: the host's queues (poison/blob-trigger bookkeeping, timer coordination).
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the host's tables (timer trigger schedule status, diagnostics events).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    accessTier: 'Hot'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource archiveContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: archiveContainerName
  properties: { publicAccess: 'None' }
}

// Archive blobs are written once and only read for a restore: move them to Cool after 30 days.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'archive-to-cool'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${archiveContainerName}/' ]
            }
            actions: {
              baseBlob: {
                tierToCool: { daysAfterModificationGreaterThan: 30 }
              }
            }
          }
        }
      ]
    }
  }
}

var roles = [ storageBlobDataOwner, storageQueueDataContributor, storageTableDataContributor ]

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(account.id, principalId, role)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output archiveContainerName string = archiveContainer.name
