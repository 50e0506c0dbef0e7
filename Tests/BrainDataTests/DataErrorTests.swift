import Testing
@testable import BrainData

@Test func dataErrorPrintsItsMessage() {
    #expect(DataError("betas.hdf5: no dataset 'betas'").description == "betas.hdf5: no dataset 'betas'")
}
