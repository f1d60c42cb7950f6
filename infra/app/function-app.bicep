// The Function App and what it runs on: a user-assigned identity (known before the app exists, so
// other modules can grant it rights), an identity-only storage account (no shared keys, no
// connection strings), Application Insights with Entra ID ingestion, a Key Vault for the Functions
// host's keys, the Flex Consumption plan and app (Node 22), and the action group that posts Azure
// Monitor alerts in the common alert schema: to /api/alerts/entra with an Entra ID token (token
// mode, the default), or to /api/alerts with the postAlert function's key (key mode).
param location string
param tags object
param resourceToken string
@allowed(['token', 'key'])
param alertsAuth string
@secure()
param alertsFunctionKey string
// token mode: the Entra application the secure webhook gets tokens for (alerts-webhook-app.bicep)
param alertsAppObjectId string
param alertsAppClientId string
param alertsAppIdentifierUri string
param alertsAppRole string
param alertsCallerObjectId string
param principalId string
@allowed(['User', 'ServicePrincipal'])
param principalType string

@description('GUID of the recording writer role (recording-writer-role.bicep): what the app grants web nodes on their recordings container.')
param recordingWriterRoleId string

// functions/names.ts Names.http.postAlert, route "alerts" (functions/http/alerts.ts): key mode
var alertsFunctionName = 'postAlert'
var alertsKeyName = 'azuremonitor'
// Names.http.postAlertWithToken, route "alerts/entra": token mode (Azure Monitor's secure webhook)
var alertsTokenRoute = 'alerts/entra'
var tokenMode = alertsAuth == 'token'
var functionAppName = 'func-jumpgate-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 12)}'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  monitoringReader: '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-jumpgate-${resourceToken}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stjumpgate${take(resourceToken, 14)}'
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
  }
  resource blobs 'blobServices' = {
    name: 'default'
    resource deployment 'containers' = {
      name: deploymentContainerName
    }
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-jumpgate-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-jumpgate-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// The Functions host keeps its keys here (AzureWebJobsSecretStorageType=keyvault), not in storage.
resource hostKeys 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-jg-${take(resourceToken, 17)}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

// Key mode: the key of the postAlert function only, in the host's own secret format
// ("function--<function>--<key>"): Azure Monitor can call /api/alerts and nothing else with it.
resource alertsKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!tokenMode) {
  parent: hostKeys
  name: 'function--${alertsFunctionName}--${alertsKeyName}'
  properties: {
    value: alertsFunctionKey
    contentType: 'Azure Functions key: ${alertsFunctionName}/${alertsKeyName}'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-jumpgate-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

// environment().resourceManager ends with '/'; the setting is written without one everywhere else
// (its default, the sample, the emulator), and by-id calls put a '/'-led id after the endpoint
var resourceManager = environment().resourceManager
var armEndpoint = endsWith(resourceManager, '/') ? substring(resourceManager, 0, length(resourceManager) - 1) : resourceManager

// Every setting the code reads (shared/config.ts; the same list as local.settings.sample.json,
// checked by test/unit/infra.test.ts), with AzureWebJobsStorage as an identity-based connection.
var appSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  AZURE_CLIENT_ID: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  AzureWebJobsSecretStorageType: 'keyvault'
  AzureWebJobsSecretStorageKeyVaultUri: hostKeys.properties.vaultUri
  AzureWebJobsSecretStorageKeyVaultClientId: identity.properties.clientId
  TASKHUB_NAME: 'jumpgate'
  JUMPGATE_TABLE_PREFIX: 'jumpgate'
  JUMPGATE_ARM_ENDPOINT: armEndpoint
  JUMPGATE_METRICS_ENDPOINT: 'https://{location}.metrics.monitor.azure.com'
  JUMPGATE_AZURE_CREDENTIAL: 'default'
  JUMPGATE_AZURE_CA_FILE: ''
  JUMPGATE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: 'true'
  JUMPGATE_HTTP_TIMEOUT_MS: '30000'
  JUMPGATE_LRO_POLL_INTERVAL_MS: '2000'
  JUMPGATE_LRO_TIMEOUT_MS: '2700000'
  JUMPGATE_HTTP_MAX_RETRIES: '3'
  JUMPGATE_HTTP_RETRY_DELAY_MS: '800'
  JUMPGATE_HTTP_RETRY_MAX_DELAY_MS: '60000'
  JUMPGATE_ARM_READ_BUDGET: '250/25'
  JUMPGATE_ARM_WRITE_BUDGET: '200/10'
  JUMPGATE_ARM_BACKGROUND_RESERVE_PERCENT: '50'
  JUMPGATE_RESOURCE_GRAPH_LAG_SECONDS: '300'
  JUMPGATE_DRIFT_FULL_CHECK_HOURS: '24'
  JUMPGATE_TENANT_ID: tenant().tenantId
  JUMPGATE_FUNCTION_PRINCIPAL_ID: identity.properties.principalId
  JUMPGATE_ALERT_ACTION_GROUP_ID: alerts.id
  JUMPGATE_RECORDING_WRITER_ROLE_ID: recordingWriterRoleId
  JUMPGATE_NODE_READY_TIMEOUT_MINUTES: '40'
  JUMPGATE_ACME_CA_FILE: ''
  JUMPGATE_ACME_POLL_MS: '2000'
  JUMPGATE_ACME_DNS_WAIT_SECONDS: '15'
  JUMPGATE_ALERT_RETENTION_DAYS: '30'
  JUMPGATE_IGNORED_ALERT_RETENTION_DAYS: '7'
  JUMPGATE_AUDIT_RETENTION_DAYS: '365'
  JUMPGATE_ALERTS_TOKEN_AUDIENCES: tokenMode ? '${alertsAppIdentifierUri},${alertsAppClientId}' : ''
  JUMPGATE_ALERTS_TOKEN_APP_ID: '461e8683-5575-4561-ac7f-899cc907d62a'
  JUMPGATE_ALERTS_TOKEN_OBJECT_ID: alertsCallerObjectId
  JUMPGATE_ALERTS_TOKEN_ROLE: alertsAppRole
  JUMPGATE_ENTRA_AUTHORITY: 'https://login.microsoftonline.com'
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
  dependsOn: [storageAccess]
}

resource alerts 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-jumpgate-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'jumpgate'
    enabled: true
    webhookReceivers: [
      tokenMode
        ? {
            // the secure webhook: Azure Monitor sends an Entra ID token for the alerts application
            name: 'jumpgate-alerts'
            serviceUri: 'https://${site.properties.defaultHostName}/api/${alertsTokenRoute}'
            useCommonAlertSchema: true
            useAadAuth: true
            objectId: alertsAppObjectId
            identifierUri: alertsAppIdentifierUri
            tenantId: tenant().tenantId
          }
        : {
            name: 'jumpgate-alerts'
            serviceUri: 'https://${site.properties.defaultHostName}/api/alerts?code=${alertsFunctionKey}'
            useCommonAlertSchema: true
            useAadAuth: false
          }
    ]
  }
}

// The app's identity on its own resources: host storage (blobs, queues, tables: the task hub and
// Jumpgate's registry), telemetry, its key vault; and read on the action group its alert rules name.
var storageRoles = [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, identity.id, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource insightsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostKeys.id, identity.id, roles.keyVaultSecretsOfficer)
  scope: hostKeys
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource actionGroupAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alerts.id, identity.id, roles.monitoringReader)
  scope: alerts
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringReader)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The person running azd may read Jumpgate's tables (registry, audit trail) to debug; nothing else.
resource deployerTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, roles.storageTableDataReader)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
    principalId: principalId
    principalType: principalType
  }
}

output identityPrincipalId string = identity.properties.principalId
output identityClientId string = identity.properties.clientId
output functionAppName string = site.name
output apiUrl string = 'https://${site.properties.defaultHostName}/api'
output actionGroupId string = alerts.id
