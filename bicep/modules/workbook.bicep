// Shared workbook "CloudTelephony" over the Application Insights component. The content is bicep/workbook.json
// (KQL over customMetrics, requests and traces), loaded at build time so it can be edited as plain JSON.

param location string
param baseName string

@description('Application Insights component the queries run against.')
param appInsightsId string

param tags object = {}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, baseName, 'cloudtelephony-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'CloudTelephony (${baseName})'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output id string = workbook.id
