/// On a unified-memory device (Jetson) the OS shares the device memory: its reserve (`device.osReservedBytes`) is
/// kept out of the model's budget by adding it to the runtime's reserve, so every memory plan (cache `fit`, the
/// does-it-fit checks, the reported peak) leaves it free.
extension RuntimeProfile {
    public func reservingOSMemory(of hardware: HardwareProfile) -> RuntimeProfile {
        guard let os = hardware.device.osReservedBytes else { return self }
        var copy = self
        copy.reservedDeviceBytes = Sourced(reservedDeviceBytes.value + os.value,
                                           source: "runtime: \(reservedDeviceBytes.source); plus the OS reserve of \(hardware.name): \(os.source)",
                                           unconfirmed: (reservedDeviceBytes.unconfirmed ?? false) || (os.unconfirmed ?? false))
        return copy
    }
}
