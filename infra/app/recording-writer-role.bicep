// The custom role the stacks' web nodes get on their recordings container (jumpgate-recording-writer-role.json):
// read and create blobs, never overwrite or delete them. Jumpgate assigns it per node; the condition on
// Jumpgate's own assignments (main.bicep) lets it assign this role and no broader one.
targetScope = 'subscription'

@description('GUID of the role definition (main.bicep derives it from the environment, and hands the same to the app).')
param roleGuid string
param environmentName string

var role = loadJsonContent('../jumpgate-recording-writer-role.json')

resource writer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: '${role.roleName} (${environmentName})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: role.actions
        notActions: role.notActions
        dataActions: role.dataActions
        notDataActions: role.notDataActions
      }
    ]
  }
}

output roleDefinitionId string = writer.id
