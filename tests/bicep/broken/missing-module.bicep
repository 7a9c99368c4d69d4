// The module file does not exist.
module m '../fixtures/modul.bicep' = {
  name: 'm'
  params: {
    name: 'a'
  }
}
